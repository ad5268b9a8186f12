// Streaming message digests (md5, sha1, sha256, sha512) over OpenSSL EVP, and a
// MultiDigester that computes all four in one pass over the data.
// Thread-safety: a Digester or MultiDigester is a value owned by one thread at a
// time; distinct instances are independent.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "content/bytes.hpp"

namespace srcgate::content {

enum class HashAlgo : std::uint8_t { md5, sha1, sha256, sha512 };

inline constexpr std::array<HashAlgo, 4> kAllHashAlgos = {HashAlgo::md5, HashAlgo::sha1,
                                                          HashAlgo::sha256, HashAlgo::sha512};

// "md5", "sha1", "sha256", "sha512": the names Nix and the URL paths use.
std::string_view algo_name(HashAlgo algo);
// Inverse of algo_name; nullopt for any other string (case-sensitive, as Nix is).
std::optional<HashAlgo> algo_from_name(std::string_view name);
// Digest length in bytes: 16, 20, 32, 64.
std::size_t digest_size(HashAlgo algo);

// A digest value of one algorithm. Comparable; bytes() is exactly digest_size(algo) long.
struct Digest {
  HashAlgo algo = HashAlgo::sha256;
  std::array<std::uint8_t, 64> data{};

  Digest() = default;
  // REQUIRES: bytes.size() == digest_size(algo).
  Digest(HashAlgo algo, ByteView bytes);

  ByteView bytes() const { return {data.data(), digest_size(algo)}; }
  friend bool operator==(const Digest& a, const Digest& b) = default;
};

// One-shot digest of `data`.
Digest digest_of(HashAlgo algo, ByteView data);

// Streaming digest of one algorithm. Movable, not copyable.
class Digester {
 public:
  explicit Digester(HashAlgo algo);
  ~Digester();
  Digester(Digester&&) noexcept;
  Digester& operator=(Digester&&) noexcept;

  void update(ByteView data);
  // Returns the digest and resets the digester for a new message.
  Digest finish();
  HashAlgo algo() const { return algo_; }

 private:
  HashAlgo algo_;
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
};

// The four digests by which every stored file is indexed.
struct FileDigests {
  Digest md5, sha1, sha256, sha512;
  const Digest& get(HashAlgo algo) const;
  friend bool operator==(const FileDigests&, const FileDigests&) = default;
};

// All four digests in one pass. update() feeds each digester the same slice.
class MultiDigester {
 public:
  MultiDigester();
  void update(ByteView data);
  // Returns the digests and resets for a new message.
  FileDigests finish();

 private:
  Digester md5_, sha1_, sha256_, sha512_;
};

}  // namespace srcgate::content
