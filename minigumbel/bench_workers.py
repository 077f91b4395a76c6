"""Subprocess workers of ``minigumbel bench --against``: PyTorch's and JAX's figures, each library
alone in its own process (importing torch beside NumPy makes their thread pools fight).

    python -m minigumbel.bench_workers torch --sizes 4096x1024 --dtype float32 --tau 1 --repeats 20
    python -m minigumbel.bench_workers torch --what train --spec '{"batch": 64, ...}'

Each prints one JSON object on stdout; timing uses the same round-robin/median code as the bench.
"""
from __future__ import annotations

import json

from .bench import OTHER_LIBRARIES, parse_sizes, round_robin


def _torch_worker(sizes, dtype, tau, repeats, device) -> dict:
    import torch
    import torch.nn.functional as tF
    dev = torch.device("cuda" if device == "cuda" else "cpu")
    tdt = getattr(torch, dtype)
    sync = torch.cuda.synchronize if dev.type == "cuda" else None
    out = {"library": "torch", "version": torch.__version__, "device": str(dev),
           "threads": torch.get_num_threads(), "results": []}
    if dev.type == "cuda":
        out["gpu"] = torch.cuda.get_device_name()
    gen = torch.Generator(device=dev).manual_seed(0)
    for rows, cols in sizes:
        x = torch.randn(rows, cols, dtype=tdt, device=dev, generator=gen).requires_grad_(True)
        dy = torch.randn(rows, cols, dtype=tdt, device=dev, generator=gen)

        def step():
            y = tF.gumbel_softmax(x, tau=tau)
            y.backward(dy)
            x.grad = None

        out["results"].append({"shape": [rows, cols], **round_robin({"torch": step}, repeats, sync=sync)["torch"]})
    return out


def _jax_worker(sizes, dtype, tau, repeats, device) -> dict:
    import jax
    import jax.numpy as jnp
    if dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    jdt = getattr(jnp, dtype)

    @jax.jit
    def step(x, key, dy):
        def f(x):
            g = jax.random.gumbel(key, x.shape, jdt)
            return jax.nn.softmax((x + g) / tau, axis=-1)
        y, vjp = jax.vjp(f, x)
        return y, vjp(dy)[0]

    out = {"library": "jax", "version": jax.__version__, "device": str(jax.devices()[0]), "results": []}
    key = jax.random.PRNGKey(0)
    for rows, cols in sizes:
        key, k1, k2 = jax.random.split(key, 3)
        x = jax.random.normal(k1, (rows, cols), jdt)
        dy = jax.random.normal(k2, (rows, cols), jdt)
        state = {"key": key}

        def call():
            state["key"], sub = jax.random.split(state["key"])
            jax.block_until_ready(step(x, sub, dy))

        out["results"].append({"shape": [rows, cols], **round_robin({"jax": call}, repeats)["jax"]})
    return out


def _torch_train_worker(dtype, repeats, device, spec) -> dict:
    """The argmax task's step in PyTorch: same data law, MLP, Gumbel-Softmax, regret loss, Adam."""
    import torch
    import torch.nn.functional as tF
    dev = torch.device("cuda" if device == "cuda" else "cpu")
    tdt = getattr(torch, dtype)
    sync = torch.cuda.synchronize if dev.type == "cuda" else None
    gen = torch.Generator(device=dev).manual_seed(0)
    b, n, f, h = spec["batch"], spec["items"], spec["features"], spec["hidden"]
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(f, h), torch.nn.ReLU(), torch.nn.Linear(h, h),
                                torch.nn.ReLU(), torch.nn.Linear(h, 1)).to(dtype=tdt, device=dev)
    opt = torch.optim.Adam(model.parameters(), lr=spec["lr"])
    u = torch.randn(f, dtype=tdt, device=dev, generator=gen)
    u = u / u.norm()

    def step():
        x = torch.randn(b, n, f, dtype=tdt, device=dev, generator=gen)     # (B, N, F)
        v = x @ u                                                          # (B, N) hidden values
        y = tF.gumbel_softmax(model(x)[..., 0], tau=spec["tau"])            # (B, N) pointer
        loss = (v.max(-1).values - (y * v).sum(-1)).mean()                 # regret
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return {"library": "torch", "version": torch.__version__, "device": str(dev),
            "threads": torch.get_num_threads(), "train": round_robin({"t": step}, repeats, sync=sync)["t"]}


def _torch_setup(torch, dtype, device, spec):
    """What every PyTorch worker starts with: its thread count, the device, the dtype, the sync
    for honest GPU timing and a seeded Generator."""
    if spec.get("threads"):
        torch.set_num_threads(int(spec["threads"]))
    dev = torch.device("cuda" if device == "cuda" else "cpu")
    sync = torch.cuda.synchronize if dev.type == "cuda" else None
    return dev, getattr(torch, dtype), sync, torch.Generator(device=dev).manual_seed(0)


def _torch_vae_worker(dtype, repeats, device, spec) -> dict:
    """The reference categorical VAE's training step in PyTorch (minigumbel.bench_vae): same sizes,
    Gumbel-Softmax code, BCE-with-logits + analytic KL to the uniform prior, Adam."""
    import math
    import torch
    import torch.nn.functional as tF
    dev, tdt, sync, gen = _torch_setup(torch, dtype, device, spec)
    torch.manual_seed(0)
    d, (h1, h2), n_l, n_k, b = spec["dim"], spec["hidden"], spec["latents"], spec["classes"], spec["batch"]
    nn = torch.nn
    enc = nn.Sequential(nn.Linear(d, h1), nn.ReLU(), nn.Linear(h1, h2), nn.ReLU(), nn.Linear(h2, n_l * n_k))
    dec = nn.Sequential(nn.Linear(n_l * n_k, h2), nn.ReLU(), nn.Linear(h2, h1), nn.ReLU(), nn.Linear(h1, d))
    model = nn.ModuleList([enc, dec]).to(dtype=tdt, device=dev)
    opt = torch.optim.Adam(model.parameters(), lr=spec["lr"])
    data = (torch.rand(spec["n_train"], d, dtype=tdt, device=dev, generator=gen) < 0.4).to(tdt)   # binary images

    def step():
        x = data[torch.randint(0, spec["n_train"], (b,), device=dev, generator=gen)]      # (B, D)
        logits = enc(x).view(b, n_l, n_k)                                                  # (B, L, K)
        z = tF.gumbel_softmax(logits, tau=spec["tau"])
        recon = tF.binary_cross_entropy_with_logits(dec(z.view(b, -1)), x, reduction="none").sum(-1)
        logq = tF.log_softmax(logits, -1)
        kl = (logq.exp() * logq).sum((-2, -1)) + n_l * math.log(n_k)
        loss = (recon + kl).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return {"library": "torch", "version": torch.__version__, "device": str(dev),
            "threads": torch.get_num_threads(), "train": round_robin({"t": step}, repeats, sync=sync)["t"]}


def _torch_orders_worker(dtype, repeats, device, spec) -> dict:
    """Gumbel-Sinkhorn (log space, rows then columns) and NeuralSort fwd+bwd by PyTorch autograd
    (minigumbel.bench_orders: the same sizes and the same arithmetic as the hand versions)."""
    import torch
    dev, tdt, sync, gen = _torch_setup(torch, dtype, device, spec)
    sk, ns = spec["sinkhorn"], spec["neuralsort"]
    la = torch.randn(sk["lists"], sk["n"], sk["n"], dtype=tdt, device=dev, generator=gen).requires_grad_(True)
    dP = torch.randn(la.shape, dtype=tdt, device=dev, generator=gen)
    s = torch.randn(ns["lists"], ns["n"], dtype=tdt, device=dev, generator=gen).requires_grad_(True)
    dQ = torch.randn(ns["lists"], ns["n"], ns["n"], dtype=tdt, device=dev, generator=gen)
    tiny = torch.finfo(tdt).tiny

    def gumbel_sinkhorn():
        u = torch.rand(la.shape, dtype=tdt, device=dev, generator=gen).clamp_(tiny, 1.0)
        x = (la - torch.log(-torch.log(u))) / sk["tau"]
        for _ in range(sk["n_iters"]):
            x = x - torch.logsumexp(x, dim=-1, keepdim=True)
            x = x - torch.logsumexp(x, dim=-2, keepdim=True)
        torch.exp(x).backward(dP)
        la.grad = None

    n = ns["n"]
    c = (n + 1 - 2 * torch.arange(1, n + 1, device=dev)).to(tdt)

    def neuralsort():
        b = (s[:, :, None] - s[:, None, :]).abs().sum(-1)                          # (B, n): A_s 1
        z = c[:, None] * s[:, None, :] - b[:, None, :]                              # (B, n, n)
        torch.softmax(z / ns["tau"], dim=-1).backward(dQ)
        s.grad = None

    res = round_robin({"gumbel_sinkhorn": gumbel_sinkhorn, "neuralsort": neuralsort}, repeats, sync=sync)
    return {"library": "torch", "version": torch.__version__, "device": str(dev),
            "threads": torch.get_num_threads(), "orders": res}


def _torch_topk_worker(dtype, repeats, device, spec) -> dict:
    """Xie & Ermon's relaxed top-k forward + backward with PyTorch autograd (minigumbel.bench_subsets)."""
    import torch
    dev, tdt, sync, gen = _torch_setup(torch, dtype, device, spec)
    shape, k, tau = (spec["rows"], spec["items"]), spec["k"], spec["tau"]
    x = torch.randn(*shape, dtype=tdt, device=dev, generator=gen).requires_grad_(True)
    dy = torch.randn(*shape, dtype=tdt, device=dev, generator=gen)
    u = torch.rand(*shape, dtype=tdt, device=dev, generator=gen).clamp_min(torch.finfo(tdt).tiny)
    g = -torch.log(-torch.log(u))
    tiny = torch.finfo(tdt).tiny

    def step():
        r, y = x + g, 0.0
        for j in range(k):
            a = torch.softmax(r / tau, dim=-1)
            y = y + a
            if j < k - 1:
                r = r + torch.log((1.0 - a).clamp_min(tiny))
        y.backward(dy)
        x.grad = None

    return {"library": "torch", "version": torch.__version__, "device": str(dev),
            "threads": torch.get_num_threads(), "train": round_robin({"t": step}, repeats, sync=sync)["t"]}


def _main(argv=None) -> None:
    """Subprocess entry: ``python -m minigumbel.bench torch|jax --sizes ... ``; prints JSON."""
    import argparse
    p = argparse.ArgumentParser(prog="python -m minigumbel.bench")
    p.add_argument("library", choices=OTHER_LIBRARIES)
    p.add_argument("--sizes", default="4096x1024")
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--tau", type=float, default=1.0)
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--what", default="gumbel", choices=["gumbel", "train", "vae", "orders", "topk"])
    p.add_argument("--spec", default="{}", help="JSON sizes of the training step (--what train)")
    a = p.parse_args(argv)
    if a.what in ("train", "vae", "orders", "topk"):
        if a.library != "torch":
            raise SystemExit(f"--what {a.what}: only torch")
        worker = {"train": _torch_train_worker, "vae": _torch_vae_worker, "orders": _torch_orders_worker,
                  "topk": _torch_topk_worker}[a.what]
        print(json.dumps(worker(a.dtype, a.repeats, a.device, json.loads(a.spec))))
        return
    worker = _torch_worker if a.library == "torch" else _jax_worker
    print(json.dumps(worker(parse_sizes(a.sizes, allow_empty=True), a.dtype, a.tau, a.repeats, a.device)))


if __name__ == "__main__":
    _main()
