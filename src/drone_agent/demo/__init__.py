"""``drone-agent demo``: a complete simulated police deployment, the one place that wires the
simulator, the agent, capture, evidence, the store and the report together."""
