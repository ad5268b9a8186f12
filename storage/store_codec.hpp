// The byte layout of IndexedStore's keys and values (tables in kv_engine.hpp).
// This is the on-disk format: changing an encoding needs a format version.
// Integers are little-endian fixed width, except in keys that must sort by
// number (lru, pending), which are big-endian. Hash algorithms are written as
// their multihash code byte (md5 0xd5, sha1 0x11, sha256 0x12, sha512 0x13),
// not as the HashAlgo enum value. Decoders reject wrong lengths and versions
// with Errc::corruption. Pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "content/cid.hpp"
#include "content/digest.hpp"
#include "storage/block_store.hpp"
#include "storage/storage_error.hpp"

namespace srcgate::storage::codec {

// Store-wide counters, in meta["counters"].
struct Counters {
  std::uint64_t logical_bytes = 0;
  std::uint64_t blocks = 0;
  std::uint64_t files = 0;
  std::uint64_t pinned_bytes = 0;
  std::uint64_t access_clock = 0;  // last logical access time handed out
  friend bool operator==(const Counters&, const Counters&) = default;
};
inline constexpr std::string_view kCountersKey = "counters";
inline constexpr std::string_view kMaxSizeKey = "max_size";

struct RefValue {
  std::uint64_t count = 0;
  std::uint64_t size = 0;  // block bytes
};

// blocks / refs key: the CID's multihash.
std::string block_key(const content::Cid& cid);

// names key: multihash code byte + digest bytes.
std::string name_key(const content::Digest& digest);
Result<content::Digest> decode_name_key(std::string_view key);
// names value: u64 size + root CID bytes.
std::string encode_name(const NameEntry& entry);
Result<NameEntry> decode_name(std::string_view value);

std::string encode_ref(const RefValue& ref);
Result<RefValue> decode_ref(std::string_view value);

std::string encode_counters(const Counters& counters);
Result<Counters> decode_counters(std::string_view value);

std::string encode_u64(std::uint64_t v);
Result<std::uint64_t> decode_u64(std::string_view value);

// files value: version 1, flags (1 pinned, 2 digests), size, stored_bytes,
// block_count, last_access, then md5|sha1|sha256|sha512 when flag 2 is set.
// The root is the key, not part of the value.
std::string encode_record(const FileRecord& record);
Result<FileRecord> decode_record(const content::Cid& root, std::string_view value);

// links value: for each block, a length byte and the multihash.
std::string encode_links(const std::vector<std::string>& block_keys);
Result<std::vector<std::string>> decode_links(std::string_view value);

// lru key: big-endian access time + root CID bytes.
std::string lru_key(std::uint64_t access, const content::Cid& root);
// pending key: big-endian import id + multihash.
std::string pending_key(std::uint64_t import_id, std::string_view block_key);
// sources key: name key + URL; prefix for a scan is name_key(digest).
std::string source_key(const content::Digest& digest, std::string_view url);
// The digest and URL of a sources key; the URL views `key`. Errc::corruption
// when the key is not a name key followed by a non-empty URL.
struct SourceKey {
  content::Digest digest;
  std::string_view url;
};
Result<SourceKey> decode_source_key(std::string_view key);

// Lowercase hex of a key, for messages.
std::string key_hex(std::string_view key);

}  // namespace srcgate::storage::codec
