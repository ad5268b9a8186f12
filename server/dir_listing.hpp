// The generated HTML listing of a UnixFS directory without index.html
// (ipfs-gateway.md §1.3): one row per entry with its name (a link), CID and
// Tsize ("DAG size", from the link: no child block is fetched, so 10,000
// entries cost one directory walk), and a ".." row below the root. Names are
// HTML-escaped and percent-encoded in links, UTF-8 kept.
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "content/cid.hpp"
#include "content/unixfs_reader.hpp"

namespace srcgate::server {

// The listing's entity tag: `"DirIndex-<template hash>_CID-<dir cid>"`, so that
// it changes with the listing's template as well as with the directory.
std::string dir_listing_etag(const content::Cid& dir);

// `content_path` is the requested path ("/ipfs/<cid>/a/b/", X-Ipfs-Path), shown
// as the title; links are relative to it. `below_root`: the directory is not
// the path's root, so a ".." row is shown.
std::string render_dir_listing(std::string_view content_path, const content::Cid& dir,
                               const std::vector<content::DirEntry>& entries, bool below_root);

// Percent-encodes one path segment for a URL (RFC 3986 unreserved characters
// kept; UTF-8 bytes encoded).
std::string percent_encode_segment(std::string_view segment);

}  // namespace srcgate::server
