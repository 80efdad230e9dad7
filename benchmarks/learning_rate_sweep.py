"""Final and first-epoch losses of the default training run for several learning rates and seeds.

Run: ``python benchmarks/learning_rate_sweep.py [--seeds 16] [--rates 0.1 0.05 0.04 0.03]``.
It trains the default configuration (hidden 100, sequence length 10, 100 epochs) once per
rate and seed; this chose the default learning rate.
"""

from __future__ import annotations

import argparse

from rnn import Trainer, TrainingConfig, seed_corpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=16)
    parser.add_argument("--rates", type=float, nargs="+", default=[0.1, 0.05, 0.04, 0.03])
    args = parser.parse_args()
    text = seed_corpus()
    print(f"{'lr':>6} {'worst final':>12} {'median final':>13} {'epoch-1 range':>15}")
    for lr in args.rates:
        first, final = [], []
        for seed in range(args.seeds):
            trainer = Trainer(text, TrainingConfig(learning_rate=lr, seed=seed, sample_length=0))
            losses = [r.loss for r in trainer.train()]
            first.append(losses[0])
            final.append(losses[-1])
        final.sort()
        print(
            f"{lr:6.3f} {final[-1]:12.2f} {final[len(final) // 2]:13.2f} "
            f"{min(first):7.1f}-{max(first):<7.1f}"
        )


if __name__ == "__main__":
    main()
