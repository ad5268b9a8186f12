// Digests against published vectors (FIPS 180 / RFC 1321 "abc" and empty
// string, as printed by `openssl dgst`), and streaming == one-shot.
#include "content/digest.hpp"

#include <catch2/catch.hpp>
#include <string>

using namespace srcgate::content;

namespace {

std::string hex(ByteView b) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (auto c : b) {
    s += d[c >> 4];
    s += d[c & 15];
  }
  return s;
}

Bytes pattern_mib() {
  Bytes b(1 << 20);
  for (std::size_t i = 0; i < b.size(); ++i) b[i] = static_cast<std::uint8_t>(i * 7 + 3);
  return b;
}

}  // namespace

TEST_CASE("algo names and sizes") {
  CHECK(algo_name(HashAlgo::md5) == "md5");
  CHECK(algo_name(HashAlgo::sha512) == "sha512");
  CHECK(algo_from_name("sha1") == HashAlgo::sha1);
  CHECK(algo_from_name("sha256") == HashAlgo::sha256);
  CHECK_FALSE(algo_from_name("SHA256").has_value());
  CHECK_FALSE(algo_from_name("sha384").has_value());
  CHECK(digest_size(HashAlgo::md5) == 16);
  CHECK(digest_size(HashAlgo::sha1) == 20);
  CHECK(digest_size(HashAlgo::sha256) == 32);
  CHECK(digest_size(HashAlgo::sha512) == 64);
}

TEST_CASE("known vectors: empty string and abc") {
  struct V {
    HashAlgo algo;
    const char* input;
    const char* hex;
  };
  // printf '%s' INPUT | openssl dgst -ALGO
  const V vs[] = {
      {HashAlgo::md5, "", "d41d8cd98f00b204e9800998ecf8427e"},
      {HashAlgo::md5, "abc", "900150983cd24fb0d6963f7d28e17f72"},
      {HashAlgo::sha1, "", "da39a3ee5e6b4b0d3255bfef95601890afd80709"},
      {HashAlgo::sha1, "abc", "a9993e364706816aba3e25717850c26c9cd0d89d"},
      {HashAlgo::sha256, "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
      {HashAlgo::sha256, "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
      {HashAlgo::sha512, "",
       "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877"
       "ee"
       "c2f63b931bd47417a81a538327af927da3e"},
      {HashAlgo::sha512, "abc",
       "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3f"
       "ee"
       "bbd454d4423643ce80e2a9ac94fa54ca49f"},
  };
  for (const V& v : vs) {
    INFO(algo_name(v.algo) << " of '" << v.input << "'");
    Digest d = digest_of(v.algo, as_bytes(v.input));
    CHECK(d.algo == v.algo);
    CHECK(d.bytes().size() == digest_size(v.algo));
    CHECK(hex(d.bytes()) == v.hex);
    Digester s(v.algo);
    s.update(as_bytes(v.input));
    CHECK(s.finish() == d);
  }
}

TEST_CASE("MultiDigester computes all four and resets") {
  MultiDigester m;
  m.update(as_bytes("a"));
  m.update(as_bytes(""));
  m.update(as_bytes("bc"));
  FileDigests f = m.finish();
  CHECK(hex(f.md5.bytes()) == "900150983cd24fb0d6963f7d28e17f72");
  CHECK(hex(f.sha1.bytes()) == "a9993e364706816aba3e25717850c26c9cd0d89d");
  CHECK(hex(f.get(HashAlgo::sha256).bytes()) ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(f.get(HashAlgo::sha512) == f.sha512);
  CHECK(f.get(HashAlgo::md5).algo == HashAlgo::md5);
  CHECK(f.sha512 == digest_of(HashAlgo::sha512, as_bytes("abc")));
  // After finish() it starts over: the next message is the empty string.
  FileDigests e = m.finish();
  CHECK(hex(e.sha1.bytes()) == "da39a3ee5e6b4b0d3255bfef95601890afd80709");
}

TEST_CASE("1 MiB streamed in odd slices equals one-shot") {
  Bytes data = pattern_mib();
  // python3: hashlib.sha256(bytes((i*7+3)&0xff for i in range(1<<20))).hexdigest()
  CHECK(hex(digest_of(HashAlgo::sha256, data).bytes()) ==
        "172c15dc2e12b50e523d8e657cbe7fbb11c1053252bbf1e1431077d57d8128fd");
  CHECK(hex(digest_of(HashAlgo::md5, data).bytes()) == "d8a469bb35fb5fad7156842ba2242434");
  MultiDigester m;
  Digester s(HashAlgo::sha512);
  std::size_t off = 0, slice = 1;
  for (int guard = 0; off < data.size() && guard < 100000; ++guard) {
    std::size_t n = std::min(slice, data.size() - off);
    ByteView part(data.data() + off, n);
    m.update(part);
    s.update(part);
    off += n;
    slice = slice * 3 + 1;
    if (slice > 70001) slice = 7;
  }
  REQUIRE(off == data.size());
  FileDigests f = m.finish();
  for (HashAlgo a : kAllHashAlgos) {
    INFO(algo_name(a));
    CHECK(f.get(a) == digest_of(a, data));
  }
  CHECK(s.finish() == f.sha512);
}

TEST_CASE("Digester is movable") {
  Digester a(HashAlgo::sha1);
  a.update(as_bytes("ab"));
  Digester b(std::move(a));
  b.update(as_bytes("c"));
  CHECK(hex(b.finish().bytes()) == "a9993e364706816aba3e25717850c26c9cd0d89d");
  Digester c(HashAlgo::md5);
  c = std::move(b);
  CHECK(c.algo() == HashAlgo::sha1);
  CHECK(hex(c.finish().bytes()) == "da39a3ee5e6b4b0d3255bfef95601890afd80709");
}

TEST_CASE("Digest construction from bytes") {
  Digest d = digest_of(HashAlgo::md5, as_bytes("abc"));
  Digest e(HashAlgo::md5, d.bytes());
  CHECK(e == d);
  Digest f(HashAlgo::sha1, digest_of(HashAlgo::sha1, as_bytes("abc")).bytes());
  CHECK_FALSE(f == e);
}
