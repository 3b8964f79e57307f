"""The showroom floor: checking arrivals in, the salesperson who is up, visits and show rates."""
