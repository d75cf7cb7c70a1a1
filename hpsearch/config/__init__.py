"""Study file -> validated, frozen configuration."""
