"""merge customers_eu into customers with region "eu"; down puts them back from pre-images"""
from merge_customers import CUSTOMERS, merge
from mongoshift import Migration, document_migration


class MergeCustomersEu(Migration):
    collection = "customers_eu"
    outputs = [CUSTOMERS]

    @document_migration(batch_size=500)
    def forward(self, customer):
        return merge(self, customer, "eu")
