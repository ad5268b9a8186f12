#include "content/digest.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <cassert>
#include <cstdlib>
#include <cstring>

namespace srcgate::content {
namespace {

// The EVP_MD objects are fetched once; OpenSSL's implicit-fetch getters are
// thread-safe and return static objects.
const EVP_MD* evp_md(HashAlgo algo) {
  static const EVP_MD* const mds[4] = {EVP_md5(), EVP_sha1(), EVP_sha256(), EVP_sha512()};
  return mds[static_cast<std::size_t>(algo)];
}

}  // namespace

std::string_view algo_name(HashAlgo algo) {
  switch (algo) {
    case HashAlgo::md5:
      return "md5";
    case HashAlgo::sha1:
      return "sha1";
    case HashAlgo::sha256:
      return "sha256";
    case HashAlgo::sha512:
      return "sha512";
  }
  return "unknown";
}

std::optional<HashAlgo> algo_from_name(std::string_view name) {
  for (HashAlgo a : kAllHashAlgos) {
    if (algo_name(a) == name) return a;
  }
  return std::nullopt;
}

std::size_t digest_size(HashAlgo algo) {
  switch (algo) {
    case HashAlgo::md5:
      return 16;
    case HashAlgo::sha1:
      return 20;
    case HashAlgo::sha256:
      return 32;
    case HashAlgo::sha512:
      return 64;
  }
  return 0;
}

Digest::Digest(HashAlgo a, ByteView bytes) : algo(a) {
  assert(bytes.size() == digest_size(a));
  std::memcpy(data.data(), bytes.data(), std::min(bytes.size(), data.size()));
}

Digest digest_of(HashAlgo algo, ByteView data) {
  Digest d;
  d.algo = algo;
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), d.data.data(), &len, evp_md(algo), nullptr) != 1) {
    std::abort();  // only fails on allocation failure or a broken OpenSSL
  }
  return d;
}

struct Digester::Ctx {
  EVP_MD_CTX* md = nullptr;
  ~Ctx() { EVP_MD_CTX_free(md); }
};

Digester::Digester(HashAlgo algo) : algo_(algo), ctx_(std::make_unique<Ctx>()) {
  ctx_->md = EVP_MD_CTX_new();
  if (ctx_->md == nullptr || EVP_DigestInit_ex(ctx_->md, evp_md(algo), nullptr) != 1) {
    std::abort();
  }
}

Digester::~Digester() = default;
Digester::Digester(Digester&&) noexcept = default;
Digester& Digester::operator=(Digester&&) noexcept = default;

void Digester::update(ByteView data) {
  if (data.empty()) return;
  EVP_DigestUpdate(ctx_->md, data.data(), data.size());
}

Digest Digester::finish() {
  Digest d;
  d.algo = algo_;
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx_->md, d.data.data(), &len) != 1 ||
      EVP_DigestInit_ex(ctx_->md, evp_md(algo_), nullptr) != 1) {
    std::abort();
  }
  return d;
}

const Digest& FileDigests::get(HashAlgo algo) const {
  switch (algo) {
    case HashAlgo::md5:
      return md5;
    case HashAlgo::sha1:
      return sha1;
    case HashAlgo::sha256:
      return sha256;
    case HashAlgo::sha512:
      return sha512;
  }
  return sha256;
}

MultiDigester::MultiDigester()
    : md5_(HashAlgo::md5),
      sha1_(HashAlgo::sha1),
      sha256_(HashAlgo::sha256),
      sha512_(HashAlgo::sha512) {}

void MultiDigester::update(ByteView data) {
  md5_.update(data);
  sha1_.update(data);
  sha256_.update(data);
  sha512_.update(data);
}

FileDigests MultiDigester::finish() {
  return FileDigests{md5_.finish(), sha1_.finish(), sha256_.finish(), sha512_.finish()};
}

}  // namespace srcgate::content
