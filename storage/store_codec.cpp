#include "storage/store_codec.hpp"

#include <array>
#include <cstring>

#include "content/multihash.hpp"

namespace srcgate::storage::codec {

namespace {

void put_le64(std::string& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

std::uint64_t get_le64(std::string_view in) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<std::uint8_t>(in[i]);
  return v;
}

void put_be64(std::string& out, std::uint64_t v) {
  for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

std::string_view chars(content::ByteView b) { return content::as_chars(b); }

Error bad(std::string what, std::string_view value) {
  return make_error(Errc::corruption, what + " (" + std::to_string(value.size()) +
                                          " bytes: " + key_hex(value.substr(0, 32)) +
                                          (value.size() > 32 ? "...)" : ")"));
}

constexpr std::uint8_t kRecordVersion = 1;
constexpr std::uint8_t kFlagPinned = 1;
constexpr std::uint8_t kFlagDigests = 2;
constexpr std::size_t kRecordFixed = 2 + 4 * 8;
constexpr std::size_t kDigestsSize = 16 + 20 + 32 + 64;

}  // namespace

std::string block_key(const content::Cid& cid) { return std::string(chars(cid.multihash())); }

std::string name_key(const content::Digest& digest) {
  std::string key;
  key.reserve(1 + digest.bytes().size());
  key.push_back(static_cast<char>(content::multihash_code(digest.algo)));
  key.append(chars(digest.bytes()));
  return key;
}

Result<content::Digest> decode_name_key(std::string_view key) {
  if (key.empty()) return bad("empty name key", key);
  auto algo = content::multihash_algo(static_cast<std::uint8_t>(key[0]));
  if (!algo || key.size() != 1 + content::digest_size(*algo)) {
    return bad("name key is not a multihash code byte and a digest of its length", key);
  }
  return content::Digest(*algo, content::as_bytes(key.substr(1)));
}

std::string encode_name(const NameEntry& entry) {
  std::string out;
  put_le64(out, entry.size);
  out.append(chars(entry.root.bytes()));
  return out;
}

Result<NameEntry> decode_name(std::string_view value) {
  if (value.size() < 9) return bad("name value shorter than size + CID", value);
  auto cid = content::Cid::from_bytes(content::as_bytes(value.substr(8)));
  if (!cid) return bad("name value holds no valid CID: " + cid.error().message, value);
  return NameEntry{*cid, get_le64(value)};
}

std::string encode_ref(const RefValue& ref) {
  std::string out;
  put_le64(out, ref.count);
  put_le64(out, ref.size);
  return out;
}

Result<RefValue> decode_ref(std::string_view value) {
  if (value.size() != 16) return bad("reference value is not 16 bytes", value);
  return RefValue{get_le64(value), get_le64(value.substr(8))};
}

std::string encode_counters(const Counters& c) {
  std::string out;
  put_le64(out, c.logical_bytes);
  put_le64(out, c.blocks);
  put_le64(out, c.files);
  put_le64(out, c.pinned_bytes);
  put_le64(out, c.access_clock);
  return out;
}

Result<Counters> decode_counters(std::string_view v) {
  if (v.size() != 40) return bad("counters value is not 40 bytes", v);
  return Counters{get_le64(v), get_le64(v.substr(8)), get_le64(v.substr(16)),
                  get_le64(v.substr(24)), get_le64(v.substr(32))};
}

std::string encode_u64(std::uint64_t v) {
  std::string out;
  put_le64(out, v);
  return out;
}

Result<std::uint64_t> decode_u64(std::string_view value) {
  if (value.size() != 8) return bad("integer value is not 8 bytes", value);
  return get_le64(value);
}

std::string encode_record(const FileRecord& r) {
  std::string out;
  out.reserve(kRecordFixed + kDigestsSize);
  out.push_back(static_cast<char>(kRecordVersion));
  std::uint8_t flags = (r.pinned ? kFlagPinned : 0) | (r.digests ? kFlagDigests : 0);
  out.push_back(static_cast<char>(flags));
  put_le64(out, r.size);
  put_le64(out, r.stored_bytes);
  put_le64(out, r.block_count);
  put_le64(out, r.last_access);
  if (r.digests) {
    for (auto algo : content::kAllHashAlgos) out.append(chars(r.digests->get(algo).bytes()));
  }
  return out;
}

Result<FileRecord> decode_record(const content::Cid& root, std::string_view v) {
  if (v.size() < kRecordFixed) return bad("file record shorter than its fixed part", v);
  if (static_cast<std::uint8_t>(v[0]) != kRecordVersion) {
    return bad("file record has unknown version " + std::to_string(std::uint8_t(v[0])), v);
  }
  auto flags = static_cast<std::uint8_t>(v[1]);
  bool has_digests = flags & kFlagDigests;
  if (flags & ~(kFlagPinned | kFlagDigests)) return bad("file record has unknown flags", v);
  if (v.size() != kRecordFixed + (has_digests ? kDigestsSize : 0)) {
    return bad("file record has the wrong length for its flags", v);
  }
  FileRecord r{root};
  r.pinned = flags & kFlagPinned;
  r.size = get_le64(v.substr(2));
  r.stored_bytes = get_le64(v.substr(10));
  r.block_count = get_le64(v.substr(18));
  r.last_access = get_le64(v.substr(26));
  if (has_digests) {
    content::FileDigests d;
    std::size_t at = kRecordFixed;
    auto take = [&](content::HashAlgo algo) {
      std::size_t n = content::digest_size(algo);
      content::Digest digest(algo, content::as_bytes(v.substr(at, n)));
      at += n;
      return digest;
    };
    d.md5 = take(content::HashAlgo::md5);
    d.sha1 = take(content::HashAlgo::sha1);
    d.sha256 = take(content::HashAlgo::sha256);
    d.sha512 = take(content::HashAlgo::sha512);
    r.digests = d;
  }
  return r;
}

std::string encode_links(const std::vector<std::string>& keys) {
  std::size_t total = 0;
  for (const auto& k : keys) total += 1 + k.size();
  std::string out;
  out.reserve(total);
  for (const auto& k : keys) {
    // Multihash keys are at most 9 + 2 + 128 bytes (content::read_multihash bounds).
    out.push_back(static_cast<char>(k.size()));
    out.append(k);
  }
  return out;
}

Result<std::vector<std::string>> decode_links(std::string_view v) {
  std::vector<std::string> keys;
  while (!v.empty()) {
    std::size_t n = static_cast<std::uint8_t>(v[0]);
    if (n == 0 || v.size() < 1 + n) return bad("links value has a truncated entry", v);
    keys.emplace_back(v.substr(1, n));
    v.remove_prefix(1 + n);
  }
  return keys;
}

std::string lru_key(std::uint64_t access, const content::Cid& root) {
  std::string out;
  put_be64(out, access);
  out.append(chars(root.bytes()));
  return out;
}

std::string pending_key(std::uint64_t import_id, std::string_view block_key) {
  std::string out;
  put_be64(out, import_id);
  out.append(block_key);
  return out;
}

std::string source_key(const content::Digest& digest, std::string_view url) {
  return name_key(digest).append(url);
}

Result<SourceKey> decode_source_key(std::string_view key) {
  if (key.empty()) return bad("empty source key", key);
  auto algo = content::multihash_algo(static_cast<std::uint8_t>(key[0]));
  if (!algo) return bad("source key does not begin with a multihash code byte", key);
  const std::size_t prefix = 1 + content::digest_size(*algo);
  if (key.size() <= prefix) return bad("source key has no URL after its digest", key);
  return SourceKey{content::Digest(*algo, content::as_bytes(key.substr(1, prefix - 1))),
                   key.substr(prefix)};
}

std::string key_hex(std::string_view key) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * key.size());
  for (unsigned char c : key) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

}  // namespace srcgate::storage::codec
