"""Huawei Ascend: atc, ais_bench, npu-smi and CANN's environment."""
