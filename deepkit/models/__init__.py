"""deepkit's ``keras.Model`` subclasses with their own ``train_step``."""

from deepkit.models.autoencoder import Autoencoder
from deepkit.models.can import CAN
from deepkit.models.conditional_gan import ConditionalGAN
from deepkit.models.crf_tagger import CRFTagger
from deepkit.models.gan import GAN
from deepkit.models.image_captioner import ImageCaptioner
from deepkit.models.seq2seq import Seq2Seq
from deepkit.models.vae import VAE
from deepkit.models.word2vec import Word2Vec

__all__ = ["Autoencoder", "CAN", "ConditionalGAN", "CRFTagger", "GAN", "ImageCaptioner", "Seq2Seq", "VAE", "Word2Vec"]
