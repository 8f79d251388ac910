"""Compatibility shim for the openstack.cloud 2.5.0 collection with openstacksdk 4.x.

Put on PYTHONPATH for ansible-playbook runs only (test_ansible_vm.py does so).
Python imports `sitecustomize` at start-up, in the controller and in every
module process, which inherit the environment under `-c local`.

Why: every openstack.cloud 2.5.0 module reads `openstack.version.__version__`
to check the SDK version, but openstacksdk 4.x no longer imports the
`openstack.version` submodule from `openstack/__init__.py`, so each module
fails at once with "module 'openstack' has no attribute 'version'".
Importing the submodule here makes the attribute exist. openstack.cloud 2.6
(ansible 13+, which needs Python >= 3.12) no longer needs this.
"""

try:
    import openstack.version  # noqa: F401  (imported for its side effect)
except ImportError:
    # Not every Python that starts with this PYTHONPATH has the SDK installed.
    pass
