"""The generative model: a crystal diffusion VAE in torch-geometric and plain torch.

Pure functions and modules only; nothing here opens a store.
"""
