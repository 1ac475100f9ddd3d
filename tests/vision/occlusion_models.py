"""Models and images the occlusion and attack tests share: a hand-set CNN whose maps are known
exactly, random CNNs with random batch-norm statistics, and digit-like images."""

import torch

from nnscope.model import CNN, CNNConfig, MNIST_MEAN, MNIST_STD


def cell_max_model() -> CNN:
    """One channel per layer, each conv the identity and each batch norm undoing the input
    normalisation, so the 7 x 7 features are the maxima of the 4 x 4 pixel cells;
    logit 0 = 10 x (max of the cell at rows 8-11, cols 12-15), logit 1 = 5, the other logits 0."""
    model = CNN(CNNConfig(channels=(1, 1, 1)))
    with torch.no_grad():
        for i in (1, 2, 3):
            conv, bn = getattr(model, f"conv{i}"), getattr(model, f"bn{i}")
            conv.weight.zero_()
            conv.weight[0, 0, 1, 1] = 1.0
            bn.running_mean.zero_()
            bn.weight.fill_(1.0)
            bn.running_var.fill_(1.0 - bn.eps)
            bn.bias.zero_()
        # block 1 maps the normalised pixel back to the pixel: x_n * std + mean
        model.bn1.running_var.fill_(1.0 / MNIST_STD**2 - model.bn1.eps)
        model.bn1.bias.fill_(MNIST_MEAN)
        model.fc.weight.zero_()
        model.fc.bias.zero_()
        model.fc.weight[0, 2 * 7 + 3] = 10.0  # cell (2, 3): pixel rows 8-11, cols 12-15
        model.fc.bias[1] = 5.0
    return model.eval()


def random_model(seed: int, config: CNNConfig = CNNConfig(channels=(6, 8, 12))) -> CNN:
    """A CNN with random weights and random batch-norm statistics, some scales negative."""
    torch.manual_seed(seed)
    model = CNN(config)
    with torch.no_grad():
        for i in range(1, len(config.channels) + 1):
            bn = getattr(model, f"bn{i}")
            bn.running_mean.normal_(0, 0.3)
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.normal_(0.5, 0.8)
            bn.bias.normal_(0, 0.3)
    return model.eval()


def digit_like_images(count: int, seed: int) -> torch.Tensor:
    """Images (count, 1, 28, 28) with a black border and grey strokes, like MNIST digits."""
    generator = torch.Generator().manual_seed(seed)
    images = torch.zeros(count, 1, 28, 28)
    images[:, :, 5:23, 7:21] = torch.rand(count, 1, 18, 14, generator=generator).round()
    return images
