"""The data package: curated facts, their schema, and the evidence that states each figure."""
