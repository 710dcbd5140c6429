"""Ways around the censors that a subscriber switches on in its own lab host (DESIGN
principle 9): packet strategies in Geneva's syntax (geneva/)."""
