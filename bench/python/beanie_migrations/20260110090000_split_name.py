"""A Beanie migration, as Beanie's docs write them: split `name` into
first_name/last_name, set status "active", parse signup into a date. Run by
`beanie migrate` and, unchanged, by `mongoshift up`."""

from datetime import datetime

from beanie import Document, iterative_migration
from pydantic import BaseModel


class Address(BaseModel):
    street: str | None = None
    city: str
    zip: str


class UserV1(Document):
    id: int
    name: str
    email: str
    age: int
    signup: str
    address: Address
    tags: list[str]

    class Settings:
        name = "users"


class UserV2(Document):
    id: int
    first_name: str
    last_name: str
    email: str
    age: int
    signup: datetime
    address: Address
    tags: list[str]
    status: str

    class Settings:
        name = "users"


class Forward:
    @iterative_migration(batch_size=1000)
    async def split_name(self, input_document: UserV1, output_document: UserV2):
        first, _, last = input_document.name.partition(" ")
        output_document.first_name = first
        output_document.last_name = last
        output_document.signup = datetime.strptime(input_document.signup, "%Y-%m-%d")
        output_document.status = "active"


class Backward:
    @iterative_migration(batch_size=1000)
    async def join_name(self, input_document: UserV2, output_document: UserV1):
        last = input_document.last_name
        output_document.name = (
            f"{input_document.first_name} {last}" if last else input_document.first_name
        )
        output_document.signup = input_document.signup.strftime("%Y-%m-%d")
