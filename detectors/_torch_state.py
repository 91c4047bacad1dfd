"""Pickling the small torch networks das builds inside functions (their classes are local, which
pickle cannot name): a network travels as the module-level function that builds it, that
function's arguments and the weights, and is rebuilt from them."""


def network_state(build, args, network):
    """What pickles for ``network = build(*args)``: ``(build, args, weights)``."""
    return build, tuple(args), {name: value.detach().clone() for name, value in network.state_dict().items()}


def rebuilt(state):
    """The network of :func:`network_state`'s ``state``, in evaluation mode. Its layers' default
    initialisation draws from torch's global generator: it is built inside a fork of it, so the
    caller's state is left as it was."""
    import torch

    build, args, weights = state
    with torch.random.fork_rng(devices=[]):
        network = build(*args)
    network.load_state_dict(weights)
    return network.eval()
