"""Stage 2, images: the containers' root file systems and the engines that run them.

Image recipes and their catalogue, mmdebstrap bootstrap and `docker import`, binfmt checks
for emulated archs, Docker engine selection per arch, and confined container settings.
May import: `harness.common`, `harness.scenario`.
"""
