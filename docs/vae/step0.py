"""What the VAE's decoder sees at step 0 under each initialisation (docs/vae.md).

    python docs/vae/step0.py

For the reference setup (L = 8 latents of K = 8, the digits) with the initial parameters of seeds
0..9 (the ones `minigumbel train --init he|torch --seed S` starts from), on the first training batch
(100 images), codes d ~ q drawn by Gumbel-max (5 per image, fixed noise). Prints medians over the
10 seeds of:

  |a|              RMS of the decoder's Bernoulli logits a = dec(d): how far from p = 1/2 it starts
  code effect      RMS over pixels of the change in a when the code is redrawn (std of a across the
                   5 codes of one image): how much the output depends on the code at all
  f spread         std of −log p(x|d) across the 5 codes of one image (nats): the signal REINFORCE
                   sees, f(d) − b
  image spread     std of −log p(x|d) across the 100 images (one code each): what a baseline shared by
                   all images (reinforce --baseline running) leaves in f(d) − b
  |∂f/∂z|          RMS of ∂(−log p(x|z))/∂z at z = d: the signal every straight-through rule passes on
  soft − hard      RMS of dec(softmax((θ+g)/τ)) − dec(d) at τ = 1, same g: what the relaxed code
                   (gumbel, softmax) shows the decoder that the hard code does not
  KL               KL(q ‖ uniform) per image (nats; at most 8·log 8 = 16.6): how far q starts from the prior
  KL grad          RMS of ∂KL/∂θ, the exact gradient pulling q towards uniform (every estimator)
"""
import numpy as np

from minigumbel.functional import sample_gumbel
from minigumbel.nn import mlp_backward, mlp_forward
from minigumbel.train import TrainConfig, prepare


def measure(init, seed, codes=5):
    run = prepare(TrainConfig.for_task("vae", init=init, seed=seed))
    task, p = run.task, run.params
    x = task.batch(size=100)["x"]                                          # (B, D)
    logits, _ = task.scores(p, {"x": x})                                   # (B, L, K)
    g = sample_gumbel(np.random.default_rng([seed, 99]), (codes,) + logits.shape, logits.dtype)
    d = np.eye(task.classes)[np.argmax(logits + g, -1)]                    # (C, B, L, K) one-hot
    soft = np.exp(logits + g - (logits + g).max(-1, keepdims=True))
    soft /= soft.sum(-1, keepdims=True)
    flat = lambda z: z.reshape(z.shape[:-2] + (task.code_size,))           # noqa: E731
    a, _ = mlp_forward(p, flat(d), "dec.")                                 # (C, B, D)
    a_soft, _ = mlp_forward(p, flat(soft), "dec.")
    f, cache = task.reconstruction(p, x, d)                                # (C, B)
    _, dz = task.readout_backward(np.ones_like(f), cache)                  # (C, B, L, K)
    kl, kl_cache = task.logits_loss(logits)
    dkl = task.logits_loss_backward(np.ones_like(kl), kl_cache)
    rms = lambda v: float(np.sqrt(np.mean(v ** 2)))                        # noqa: E731
    return {"|a|": rms(a), "code effect": rms(a.std(0)), "f spread": float(np.mean(f.std(0))),
            "image spread": float(np.mean(f.std(1))),
            "|df/dz|": rms(dz), "soft - hard": rms(a_soft - a), "KL": float(np.mean(kl)), "KL grad": rms(dkl)}


def main():
    names = None
    print("step 0, reference setup, first batch, medians over seeds 0..9")
    for init in ("he", "torch"):
        rows = [measure(init, s) for s in range(10)]
        names = names or list(rows[0])
        if init == "he":
            print(f"{'init':6}" + "".join(f"{n:>13}" for n in names))
        print(f"{init:6}" + "".join(f"{np.median([r[n] for r in rows]):>13.3g}" for n in names))


if __name__ == "__main__":
    main()
