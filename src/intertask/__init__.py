"""intertask: choose and measure intermediate tasks for prompt-tuning transfer."""

__version__ = "0.1.0"
