"""polymodal.translation: decoding (greedy, beam search), encoder-decoder and attention captioning,
seq2seq with attention, example-based (retrieval) translation and a VQA baseline."""

from polymodal.translation.decoding import DecodeResult, Hypothesis, beam_search, greedy_decode, map_state

__all__ = ["DecodeResult", "Hypothesis", "beam_search", "greedy_decode", "map_state"]
