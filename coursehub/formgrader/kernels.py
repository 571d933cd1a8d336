"""No kernels in a formgrader.

A kernel there would run code as the formgrader's user, next to its hub token and the course
folder. ``NoKernels`` refuses every start (the kernels and sessions APIs answer 403 with
``NO_CODE``); ``NoKernelSpecs`` offers none, so the notebook editor opens sources with
"No Kernel" instead of offering one that would be refused.
"""

from __future__ import annotations

from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager
from tornado import web

NO_CODE = (
    "This formgrader runs no code: it has no kernels and no terminals. Run notebooks in your "
    "own server, and autograde with `coursehub assignment autograde COURSE ASSIGNMENT`."
)


class NoKernels(AsyncMappingKernelManager):
    async def start_kernel(self, *args, **kwargs):
        raise web.HTTPError(403, NO_CODE)


class NoKernelSpecs(KernelSpecManager):
    def find_kernel_specs(self) -> dict[str, str]:
        return {}

    def get_kernel_spec(self, kernel_name: str):
        raise NoSuchKernel(kernel_name)
