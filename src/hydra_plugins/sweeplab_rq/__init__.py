"""`hydra/launcher=rq`: Hydra's RQ launcher (hydra-rq-launcher 1.2.0), carried here because its released
config cannot be imported on Python >= 3.11 (a dataclass instance as a field default, "mutable default ...
for field enqueue is not allowed"), and Hydra imports every installed plugin at start-up: installed, it
stops every Hydra app. The fix (default_factory) is on Hydra's main branch, released only for hydra-core
1.4 (hydra-rq-launcher 1.4.0rc3). Same keys and behaviour, plus: a failed job returns its error."""
