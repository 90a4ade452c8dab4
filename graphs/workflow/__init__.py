"""The operator workflow: Sena (plan) -> Lubit (gatekeeper) -> approval -> GitCode (execute) -> RUNE (review)."""
