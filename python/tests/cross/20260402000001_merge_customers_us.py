"""merge customers_us into customers with region "us"; down puts them back from pre-images"""
from merge_customers import CUSTOMERS, merge
from mongoshift import Migration, document_migration


class MergeCustomersUs(Migration):
    collection = "customers_us"
    outputs = [CUSTOMERS]

    @document_migration(batch_size=500)
    def forward(self, customer):
        return merge(self, customer, "us")
