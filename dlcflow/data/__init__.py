"""The pose data model (frames × individuals × body parts × space, with likelihood)."""
