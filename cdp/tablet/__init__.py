"""The showroom tablet session: a salesperson and a customer configure a car together."""
