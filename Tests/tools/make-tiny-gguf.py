#!/usr/bin/env python3
"""Writes a tiny llama-architecture GGUF model with random weights.

    make-tiny-gguf.py OUT.gguf [--seed N] [--tokenizer sentencepiece|bpe]

No weights are downloaded: every tensor is drawn from a seeded normal
distribution, so the file is the same on every machine. The model is
useless as a language model and that is the point: llama.cpp loads it,
serves it, and with a grammar (a JSON Schema in response_format) still
answers schema-shaped JSON, which is what the structured-generation test
needs from a real server.

The tokenizer is SentencePiece-style ("llama"): <unk>, <s>, </s>, the 256
byte tokens (<0x00>..<0xFF>, so any text can be encoded and any grammar
character produced), printable ASCII characters and a few words with the
"\u2581" space marker. A ChatML-like chat template lets llama-cpp-python
format chat requests without guessing.

With --tokenizer bpe the vocabulary is instead a byte-level BPE of 2048
tokens (GPT-2 style, as Qwen and Llama 3 have), trained with the
`tokenizers` package on text that ships with this repository (the docs and
the bundled pipelines), with ChatML's <|im_start|> and <|im_end|> as control
tokens, the ChatML chat template, and mean pooling for embeddings: about
1.5 MB, the same bytes on every machine for the same files.

Needs numpy and the gguf package (pip install gguf); --tokenizer bpe also
needs tokenizers.
"""
import argparse
import json
import os
import sys

import numpy as np
import gguf

EMBED = 64
HEADS = 4
LAYERS = 2
FEED_FORWARD = 128
CONTEXT = 2048

WORDS = ["the", "a", "and", "of", "to", "is", "answer", "rating", "good", "bad", "yes", "no",
         "true", "false", "null", "name", "value", "tags", "why", "because"]

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\n' + message['content'] + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
)


def vocabulary():
    tokens, scores, types = [], [], []

    def add(text, score, kind):
        tokens.append(text)
        scores.append(score)
        types.append(kind)

    add("<unk>", 0.0, gguf.TokenType.UNKNOWN)
    add("<s>", 0.0, gguf.TokenType.CONTROL)
    add("</s>", 0.0, gguf.TokenType.CONTROL)
    for byte in range(256):
        add("<0x%02X>" % byte, 0.0, gguf.TokenType.BYTE)
    # Single characters score lowest, words highest: SentencePiece merges
    # pieces by score, so known words become one token.
    for code in range(0x21, 0x7F):
        add(chr(code), -10.0, gguf.TokenType.NORMAL)
    add("\u2581", -10.0, gguf.TokenType.NORMAL)
    for index, word in enumerate(WORDS):
        add("\u2581" + word, -1.0 - index * 0.01, gguf.TokenType.NORMAL)
    return tokens, scores, types


CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

BPE_VOCABULARY = 2048
BPE_SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def bpe_corpus():
    """The repository's own text, in a fixed order."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    paths = []
    for folder, suffixes in (("docs", (".md",)), ("pipelines", (".yaml", ".jsonl"))):
        directory = os.path.join(root, folder)
        for name in sorted(os.listdir(directory)):
            if name.endswith(suffixes):
                paths.append(os.path.join(directory, name))
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                yield line


def bpe_vocabulary():
    """A byte-level BPE trained on bpe_corpus(): tokens, types, merges."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(vocab_size=BPE_VOCABULARY, special_tokens=BPE_SPECIAL, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(bpe_corpus(), trainer=trainer)
    vocab = tokenizer.get_vocab()
    tokens = [None] * len(vocab)
    for text, index in vocab.items():
        tokens[index] = text
    types = [gguf.TokenType.CONTROL if text in BPE_SPECIAL else gguf.TokenType.NORMAL for text in tokens]
    model = json.loads(tokenizer.to_str())["model"]
    merges = [" ".join(pair) if isinstance(pair, list) else pair for pair in model["merges"]]
    return tokens, types, merges


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--tokenizer", choices=["sentencepiece", "bpe"], default="sentencepiece")
    args = parser.parse_args()

    if args.tokenizer == "bpe":
        tokens, types, merges = bpe_vocabulary()
    else:
        tokens, scores, types = vocabulary()
    vocab = len(tokens)
    rng = np.random.default_rng(args.seed)

    def weights(*shape):
        return (rng.standard_normal(shape) * 0.02).astype(np.float32)

    temporary = args.out + ".tmp"
    writer = gguf.GGUFWriter(temporary, "llama")
    writer.add_name("pipeline-tiny-random")
    writer.add_context_length(CONTEXT)
    writer.add_embedding_length(EMBED)
    writer.add_block_count(LAYERS)
    writer.add_feed_forward_length(FEED_FORWARD)
    writer.add_head_count(HEADS)
    writer.add_head_count_kv(HEADS)
    writer.add_rope_dimension_count(EMBED // HEADS)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_vocab_size(vocab)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)

    if args.tokenizer == "bpe":
        writer.add_tokenizer_model("gpt2")
        writer.add_tokenizer_pre("gpt-2")
        writer.add_token_list(tokens)
        writer.add_token_types(types)
        writer.add_token_merges(merges)
        writer.add_bos_token_id(tokens.index("<|endoftext|>"))
        writer.add_eos_token_id(tokens.index("<|im_end|>"))
        writer.add_add_bos_token(False)
        writer.add_add_eos_token(False)
        writer.add_chat_template(CHATML_TEMPLATE)
        writer.add_pooling_type(gguf.PoolingType.MEAN)
    else:
        writer.add_tokenizer_model("llama")
        writer.add_token_list(tokens)
        writer.add_token_scores(scores)
        writer.add_token_types(types)
        writer.add_unk_token_id(0)
        writer.add_bos_token_id(1)
        writer.add_eos_token_id(2)
        writer.add_add_bos_token(True)
        writer.add_add_eos_token(False)
        writer.add_chat_template(CHAT_TEMPLATE)

    # numpy shapes are (rows, columns): ggml's dimensions reversed.
    writer.add_tensor("token_embd.weight", weights(vocab, EMBED))
    for layer in range(LAYERS):
        prefix = "blk.%d." % layer
        writer.add_tensor(prefix + "attn_norm.weight", np.ones(EMBED, dtype=np.float32))
        writer.add_tensor(prefix + "attn_q.weight", weights(EMBED, EMBED))
        writer.add_tensor(prefix + "attn_k.weight", weights(EMBED, EMBED))
        writer.add_tensor(prefix + "attn_v.weight", weights(EMBED, EMBED))
        writer.add_tensor(prefix + "attn_output.weight", weights(EMBED, EMBED))
        writer.add_tensor(prefix + "ffn_norm.weight", np.ones(EMBED, dtype=np.float32))
        writer.add_tensor(prefix + "ffn_gate.weight", weights(FEED_FORWARD, EMBED))
        writer.add_tensor(prefix + "ffn_up.weight", weights(FEED_FORWARD, EMBED))
        writer.add_tensor(prefix + "ffn_down.weight", weights(EMBED, FEED_FORWARD))
    writer.add_tensor("output_norm.weight", np.ones(EMBED, dtype=np.float32))
    writer.add_tensor("output.weight", weights(vocab, EMBED))

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    os.replace(temporary, args.out)
    print("wrote %s (%d tokens, %s tokenizer, %d layers, %d-dim, %d bytes)"
          % (args.out, vocab, args.tokenizer, LAYERS, EMBED, os.path.getsize(args.out)))


if __name__ == "__main__":
    sys.exit(main())
