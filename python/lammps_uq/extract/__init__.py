"""From high-uncertainty regions to training data: molecules, carving with border relaxation,
the consumer that follows a growing region file, labelling, and the executors that run them."""
