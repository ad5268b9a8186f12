#include "server/hash_command.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <boost/program_options.hpp>
#include <cerrno>
#include <ostream>

#include "content/importer.hpp"
#include "content/nix_hash.hpp"
#include "server/cli_command.hpp"

namespace srcgate::server {

namespace po = boost::program_options;

namespace {

boost::system::error_code errno_code(int e) {
  return boost::system::error_code(e, boost::system::system_category());
}

// Closes a descriptor that this code opened (never standard input).
class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  ~FdCloser() {
    if (fd_ > STDERR_FILENO) ::close(fd_);
  }
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;

 private:
  int fd_;
};

constexpr std::string_view kHelp =
    "Usage: srcgate hash [--profile NAME] FILE...\n"
    "\n"
    "Prints, for each FILE ('-' is standard input), one JSON object on one line:\n"
    "  {\"file\":\"<path as given>\",\"size\":<bytes>,\"cid\":\"<root CID>\",\"md5\":\"<hex>\",\n"
    "   \"sha1\":\"<hex>\",\"sha256\":\"<hex>\",\"sha512\":\"<hex>\",\"profile\":\"<NAME>\"}\n"
    "The CID is the root of the UnixFS DAG that `ipfs add` with the same IPIP-0499\n"
    "profile builds; the blocks are computed and thrown away, nothing is stored.\n"
    "The digests are lowercase hex over the file's bytes (as `nix-hash --flat`).\n"
    "A file name that is not valid UTF-8 is printed with each byte that is not part\n"
    "of a well-formed UTF-8 sequence replaced by U+FFFD.\n"
    "\n"
    "Exit status: 0 when every file was hashed; 1 when some file could not be read\n"
    "(it is named on standard error and the others are still printed); 2 on a usage\n"
    "error.\n";

std::string valid_profiles() {
  return std::string(content::ImportProfile::v1_2025.name) + ", " +
         std::string(content::ImportProfile::v0_2015.name);
}

int usage(std::ostream& err, const std::string& message) {
  return usage_error(err, "hash", message);
}

}  // namespace

boost::system::error_code read_file_slices(const std::string& path, content::Bytes& buffer,
                                           const std::function<void(content::ByteView)>& consume) {
  int fd = STDIN_FILENO;
  if (path != "-") {
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) return errno_code(errno);
  }
  FdCloser closer(fd);
  struct stat st {};
  if (::fstat(fd, &st) != 0) return errno_code(errno);
  if (S_ISDIR(st.st_mode)) return errno_code(EISDIR);
  // Advice only; pipes and terminals refuse it with ESPIPE, which is fine.
  (void)::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);

  if (buffer.size() < kFileReadSlice) buffer.resize(kFileReadSlice);
  bool eof = false;
  while (!eof) {
    // Fill the slice completely (pipes return at most 64 KiB per read) so the
    // consumer sees few, large slices.
    std::size_t filled = 0;
    while (filled < kFileReadSlice) {
      const ssize_t n = ::read(fd, buffer.data() + filled, kFileReadSlice - filled);
      if (n < 0) {
        if (errno == EINTR) continue;
        return errno_code(errno);
      }
      if (n == 0) {
        eof = true;
        break;
      }
      filled += static_cast<std::size_t>(n);
    }
    if (filled > 0) consume(content::ByteView(buffer.data(), filled));
  }
  return {};
}

std::string hash_json_line(std::string_view file, const content::FileSummary& summary,
                           std::string_view profile) {
  boost::json::object obj;
  obj.reserve(8);
  obj.emplace("file", to_valid_utf8(file));
  obj.emplace("size", summary.dag.size);
  obj.emplace("cid", summary.dag.root.to_string());
  obj.emplace("md5", content::to_hex(summary.digests.md5));
  obj.emplace("sha1", content::to_hex(summary.digests.sha1));
  obj.emplace("sha256", content::to_hex(summary.digests.sha256));
  obj.emplace("sha512", content::to_hex(summary.digests.sha512));
  obj.emplace("profile", profile);
  return boost::json::serialize(obj);
}

int run_hash_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  std::string profile_name;
  std::vector<std::string> files;
  po::options_description options("Options");
  options.add_options()              //
      ("help,h", "print this help")  //
      ("profile,p",
       po::value<std::string>(&profile_name)
           ->value_name("NAME")
           ->default_value(std::string(content::ImportProfile::v1_2025.name)),
       ("UnixFS import profile: " + valid_profiles()).c_str());
  po::options_description hidden;
  hidden.add_options()("file", po::value<std::vector<std::string>>(&files));
  po::options_description all;
  all.add(options).add(hidden);
  po::positional_options_description positional;
  positional.add("file", -1);

  po::variables_map vm;
  if (auto done =
          parse_command_line(args, "hash", all, &positional, vm, kHelp, options, out, err)) {
    return *done;
  }
  const auto profile = content::ImportProfile::by_name(profile_name);
  if (!profile) {
    return usage(err,
                 "unknown profile '" + profile_name + "'; valid profiles: " + valid_profiles());
  }
  if (files.empty()) return usage(err, "no FILE given ('-' reads standard input)");

  int status = kExitOk;
  content::Bytes buffer;
  for (const auto& file : files) {
    content::FileHasher hasher(*profile, content::FileImporter::BlockSink{});
    const auto ec =
        read_file_slices(file, buffer, [&](content::ByteView slice) { hasher.write(slice); });
    // The hasher's worker thread must be joined whatever happened.
    const content::FileSummary summary = hasher.finish();
    if (ec) {
      out.flush();
      err << "srcgate hash: " << file << ": " << ec.message() << '\n';
      status = kExitFailure;
      continue;
    }
    out << hash_json_line(file, summary, profile->name) << '\n';
    out.flush();
  }
  if (!out) {
    err << "srcgate hash: cannot write to standard output\n";
    return kExitFailure;
  }
  return status;
}

}  // namespace srcgate::server
