"""Creating an agent pod: options, context, prompt, manifests, create."""
