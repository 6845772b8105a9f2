"""Monte Carlo simulation of random fully connected networks (:func:`depthscope.simulate`).

What imports what, lowest first (no module imports one above it)::

    _pair       the two-input maths over an array namespace (numpy or torch)
    _metrics    every angle and panel formula (imports _pair)
    _inputs     the one file reader: a fixed batch of inputs from a .npy file
    _samplers   numpy samplers: Gram chain and dense weights, two inputs or m inputs
    _plan       checked arguments (Plan), random streams, chunk sizing
    _result     SimulationResult
    backends/   _numpy and _torch: run one chunk of networks of a plan
    _simulate   the driver: plan -> backend (registry) -> chunks -> SimulationResult
"""
