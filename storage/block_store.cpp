#include "storage/block_store.hpp"

#include <cctype>
#include <string>

#include "content/nix_hash.hpp"

namespace srcgate::storage {

namespace {

bool all_hex(std::string_view s) {
  for (char c : s) {
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return !s.empty();
}

}  // namespace

Result<content::Cid> resolve_root(BlockStore& store, std::string_view text) {
  std::optional<content::HashAlgo> algo_by_length;
  if (all_hex(text)) {
    switch (text.size()) {
      case 32:
        algo_by_length = content::HashAlgo::md5;
        break;
      case 40:
        algo_by_length = content::HashAlgo::sha1;
        break;
      case 64:
        algo_by_length = content::HashAlgo::sha256;
        break;
      case 128:
        algo_by_length = content::HashAlgo::sha512;
        break;
      default:
        break;
    }
  }
  bool looks_like_hash = algo_by_length || text.find(':') != std::string_view::npos;
  for (auto a : content::kAllHashAlgos) {
    std::string prefix = std::string(content::algo_name(a)) + "-";
    if (text.starts_with(prefix)) looks_like_hash = true;
  }
  if (!looks_like_hash) {
    auto cid = content::Cid::parse(text);
    if (!cid) {
      return make_error(
          Errc::invalid_input,
          "'" + std::string(text) + "' is neither a CID nor a hash (" + cid.error().message + ")");
    }
    return *cid;
  }
  auto parsed = content::parse_nix_hash(text, algo_by_length);
  if (!parsed) return from_content(parsed.error());
  auto entry = store.lookup(parsed->digest);
  if (!entry) return entry.error();
  if (!*entry) {
    return make_error(Errc::not_found, "no file with " +
                                           std::string(content::algo_name(parsed->digest.algo)) +
                                           " " + content::to_hex(parsed->digest) + " in the store");
  }
  return (*entry)->root;
}

content::Result<std::optional<content::Bytes>> StoreBlockSource::get(const content::Cid& cid) {
  auto r = store_.get_block(cid);
  if (!r) {
    last_error_ = r.error();
    return to_content(r.error());
  }
  return std::move(*r);
}

}  // namespace srcgate::storage
