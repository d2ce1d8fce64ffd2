"""Committees of models: the evaluators ``fix uq`` calls, the ASE calculator around the same
code, the torch process settings, and the recipe of the shipped water committee."""
