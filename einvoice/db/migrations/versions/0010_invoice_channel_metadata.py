"""invoice_channel_metadata: what the channel said about a received file

Revision ID: 0010
Revises: 0009

``invoices.channel_json``: a JSON object with the channel's own metadata (e-mail message id,
sender and reply address; Peppol SBDH participant ids, document type and instance id; the
uploader), kept as evidence and to answer the supplier. Nullable: files received before this
revision, and directory/S3 inboxes, have none.
"""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("invoices") as batch:
        batch.add_column(sa.Column("channel_json", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("invoices") as batch:
        batch.drop_column("channel_json")
