// A small, deterministic mutation fuzzer for the parsers of untrusted input:
// a fixed seed, a seed corpus, a dictionary of the tokens each format cares
// about, and a bounded number of rounds, so it runs in every `ctest -L unit`
// and a failure reproduces. (libFuzzer needs clang and its runtime; this needs
// neither, and finds what matters here: crashes, non-kj exceptions escaping,
// broken invariants.)
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <random>
#include <string>
#include <vector>

namespace taskctl::fuzz {

class Mutator {
 public:
  // `maxEdits`: fewer for a strict format, so that enough inputs get past its
  // first checks.
  Mutator(std::vector<std::string> corpus, std::vector<std::string> dictionary, uint64_t seed,
          size_t maxEdits = 8)
      : corpus(std::move(corpus)),
        dictionary(std::move(dictionary)),
        random(seed),
        maxEdits(maxEdits) {}

  // The next input: a corpus entry with 1 to maxEdits random edits.
  std::string next() {
    std::string s = corpus[pick(corpus.size())];
    size_t edits = 1 + pick(maxEdits);
    for (size_t i = 0; i < edits; i++) edit(s);
    if (s.size() > MAX_SIZE) s.resize(MAX_SIZE);
    return s;
  }

 private:
  static constexpr size_t MAX_SIZE = 4096;
  std::vector<std::string> corpus, dictionary;
  std::mt19937_64 random;
  size_t maxEdits;

  size_t pick(size_t n) { return n == 0 ? 0 : size_t(random() % n); }

  void edit(std::string& s) {
    static const char interesting[] = {0,   '\n', '\r', '=',    '"',    '\'',   '[',   ']',
                                       '.', '-',  '+',  ':',    ' ',    '\\',   '%',   '#',
                                       '9', '0',  'x',  '\x7f', '\xff', '\xc3', '\x80'};
    size_t at = pick(s.size() + 1);
    switch (pick(7)) {
      case 0:  // flip a bit
        if (!s.empty()) s[pick(s.size())] ^= char(1u << pick(8));
        break;
      case 1:  // an interesting byte
        if (!s.empty()) s[pick(s.size())] = interesting[pick(sizeof(interesting))];
        break;
      case 2:  // a token of the format
        if (!dictionary.empty()) s.insert(at, dictionary[pick(dictionary.size())]);
        break;
      case 3: {  // delete a run
        size_t n = pick(16) + 1;
        if (at < s.size()) s.erase(at, n);
        break;
      }
      case 4: {  // repeat a run
        if (s.empty()) break;
        size_t from = pick(s.size()), n = pick(std::min<size_t>(32, s.size() - from)) + 1;
        s.insert(at, s.substr(from, n));
        break;
      }
      case 5: {  // splice in part of another corpus entry
        const std::string& other = corpus[pick(corpus.size())];
        if (other.empty()) break;
        size_t from = pick(other.size());
        s.insert(at, other.substr(from, pick(other.size() - from) + 1));
        break;
      }
      default:  // a long run of one byte (lengths, limits)
        s.insert(at, std::string(pick(300) + 1, interesting[pick(sizeof(interesting))]));
        break;
    }
  }
};

}  // namespace taskctl::fuzz
