"""HTTP plumbing shared by every view: errors to responses, request limits, who may reach what."""
