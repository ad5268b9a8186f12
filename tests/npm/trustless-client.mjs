#!/usr/bin/env node
// Independent trustless-gateway client for srcgate's tests, built only from
// the JavaScript reference libraries: @ipld/car reads the CAR, multiformats
// hashes every block, @ipld/dag-pb lists its links, and ipfs-unixfs-exporter
// (the exporter Helia uses) resolves the path and exports the file.
//
// Usage:
//   node trustless-client.mjs [OPTIONS] GATEWAY_URL /ipfs/CID[/NAME...]
//   node trustless-client.mjs [OPTIONS] --car FILE /ipfs/CID[/NAME...]
// Options:
//   --entity-bytes FROM:TO  ask for (and export) only that byte range of the
//                           file (trustless gateway spec: FROM and TO are
//                           inclusive offsets, negative ones count from the
//                           end, TO may be `*`)
//   --dag-scope SCOPE       block, entity or all (sent as dag-scope=SCOPE)
//   --out FILE              write the exported bytes to FILE, not stdout
//   --car FILE              read the CAR from FILE instead of a gateway
// The path's names are given decoded; each is percent-encoded in the URL.
//
// With a gateway, it sends GET GATEWAY_URL/ipfs/CID/NAME...?format=car
// (plus dag-scope / entity-bytes) with
// `Accept: application/vnd.ipld.car; version=1; order=dfs; dups=n`, and
// requires a 200 with a CAR content type. Then, for the CAR from either
// source, it requires that:
//   * the header lists exactly one root: the CID the path resolves to (what
//     boxo sends) or the path's root CID (the walk itself starts from the
//     CID in the path, never from the header);
//   * every block's bytes hash (sha2-256, or identity) to its CID's multihash;
//   * every block is either the root or linked from a block before it (the
//     blocks of a dfs CAR), and none repeats unless the response said dups=y;
//   * the exporter, reading only these verified blocks, resolves the path
//     to a file (or raw block) and yields exactly the requested bytes;
//   * every block of the CAR was read by that export (nothing unasked-for).
// It writes the bytes to stdout (or --out) and a one-line summary to stderr.
// Exit status: 0 on success, 1 on any failed check (with a message on
// stderr saying which), 2 on a usage error.
import { createReadStream, createWriteStream } from 'node:fs'
import { finished } from 'node:stream/promises'
import { CarBlockIterator } from '@ipld/car'
import * as dagPb from '@ipld/dag-pb'
import { exporter } from 'ipfs-unixfs-exporter'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { identity } from 'multiformats/hashes/identity'
import { sha256 } from 'multiformats/hashes/sha2'

const NAME = 'trustless-client'
const ACCEPT = 'application/vnd.ipld.car; version=1; order=dfs; dups=n'
const SCOPES = ['block', 'entity', 'all']
const FETCH_TIMEOUT_MS = 120_000

class CheckError extends Error {}

function usage (message) {
  process.stderr.write(`${NAME}: ${message}\n` +
    `usage: node trustless-client.mjs [--entity-bytes FROM:TO] [--dag-scope ${SCOPES.join('|')}] ` +
    '[--out FILE] (GATEWAY_URL | --car FILE) /ipfs/CID[/NAME...]\n')
  process.exit(2)
}

function parseArgs (argv) {
  const opts = { entityBytes: undefined, dagScope: undefined, out: undefined, car: undefined }
  const positional = []
  const valueOf = (i, flag) => {
    if (i + 1 >= argv.length) usage(`${flag} needs a value`)
    return argv[i + 1]
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (arg === '--entity-bytes') {
      opts.entityBytes = parseEntityBytes(valueOf(i++, arg))
    } else if (arg === '--dag-scope') {
      opts.dagScope = valueOf(i++, arg)
      if (!SCOPES.includes(opts.dagScope)) usage(`unknown --dag-scope ${opts.dagScope}`)
    } else if (arg === '--out') {
      opts.out = valueOf(i++, arg)
    } else if (arg === '--car') {
      opts.car = valueOf(i++, arg)
    } else if (arg.startsWith('--')) {
      usage(`unknown option ${arg}`)
    } else {
      positional.push(arg)
    }
  }
  if (opts.car !== undefined) {
    if (positional.length !== 1) usage('with --car, give exactly one content path')
    opts.contentPath = positional[0]
  } else {
    if (positional.length !== 2) usage('give a gateway URL and a content path')
    opts.gateway = positional[0]
    if (!/^https?:\/\//.test(opts.gateway)) usage(`not an http(s) URL: ${opts.gateway}`)
    opts.contentPath = positional[1]
  }
  if (!opts.contentPath.startsWith('/ipfs/')) usage(`the content path must start with /ipfs/: ${opts.contentPath}`)
  const segments = opts.contentPath.slice('/ipfs/'.length).split('/').filter(s => s !== '')
  if (segments.length === 0) usage('the content path names no CID')
  try {
    opts.root = CID.parse(segments[0])
  } catch (err) {
    usage(`not a CID: ${segments[0]} (${err.message})`)
  }
  opts.names = segments.slice(1)
  return opts
}

// "FROM:TO" -> { from: bigint, to: bigint | '*', text }.
function parseEntityBytes (text) {
  const m = /^(-?\d+):(-?\d+|\*)$/.exec(text)
  if (m === null) usage(`--entity-bytes must be FROM:TO (integers, TO may be *), got ${text}`)
  const from = BigInt(m[1])
  const to = m[2] === '*' ? '*' : BigInt(m[2])
  if (from >= 0n && to !== '*' && to >= 0n && to < from) usage(`--entity-bytes ${text}: TO is before FROM`)
  return { from, to, text }
}

// The byte range [start, end) of a file of `size` bytes that `eb` selects.
function rangeOf (eb, size) {
  if (eb === undefined) return { start: 0n, end: size }
  let start = eb.from < 0n ? size + eb.from : eb.from
  if (start < 0n) start = 0n
  let last = eb.to === '*' ? size - 1n : (eb.to < 0n ? size + eb.to : eb.to)
  if (last > size - 1n) last = size - 1n
  if (start >= size || last < start) return { start, end: start }
  return { start, end: last + 1n }
}

function keyOf (cid) {
  return cid.toV1().toString()
}

function hex (bytes) {
  return Buffer.from(bytes).toString('hex')
}

// Reads the CAR from `source` (an async iterable of byte chunks), checking
// each block as it arrives. Returns the verified blocks by key.
async function readVerifiedCar (source, root, allowDups) {
  let iterator
  try {
    iterator = await CarBlockIterator.fromIterable(source)
  } catch (err) {
    throw new CheckError(`cannot read the CAR header: ${err.message}`)
  }
  const roots = await iterator.getRoots()
  const blocks = new Map() // key -> bytes, verified
  const expected = new Set([keyOf(root)]) // the root and every link seen so far
  const counts = { sha256: 0, identity: 0, duplicates: 0 }
  let index = 0
  try {
    for await (const { cid, bytes } of iterator) {
      const where = `block ${index} (${cid})`
      const mh = cid.multihash
      let digest
      if (mh.code === sha256.code) {
        digest = (await sha256.digest(bytes)).digest
        counts.sha256++
      } else if (mh.code === identity.code) {
        digest = identity.digest(bytes).digest
        counts.identity++
      } else {
        throw new CheckError(`${where}: unsupported multihash 0x${mh.code.toString(16)}`)
      }
      if (mh.size !== digest.length || hex(mh.digest) !== hex(digest)) {
        throw new CheckError(`${where}: hash mismatch: the CID says ${hex(mh.digest)}, ` +
          `the ${bytes.length} bytes hash to ${hex(digest)}`)
      }
      const key = keyOf(cid)
      if (!expected.has(key)) {
        throw new CheckError(`${where}: unexpected block: neither the root nor linked from an earlier block`)
      }
      if (blocks.has(key)) {
        if (!allowDups) throw new CheckError(`${where}: duplicate block, but the response did not say dups=y`)
        counts.duplicates++
      }
      blocks.set(key, bytes)
      if (cid.code === dagPb.code) {
        let node
        try {
          node = dagPb.decode(bytes)
        } catch (err) {
          throw new CheckError(`${where}: not valid dag-pb: ${err.message}`)
        }
        for (const link of node.Links) expected.add(keyOf(link.Hash))
      } else if (cid.code !== raw.code) {
        throw new CheckError(`${where}: unsupported codec 0x${cid.code.toString(16)} (only dag-pb and raw)`)
      }
      index++
    }
  } catch (err) {
    if (err instanceof CheckError) throw err
    throw new CheckError(`cannot read the CAR after ${index} blocks: ${err.message}`)
  }
  return { roots, blocks, counts, total: index }
}

// The response body of the CAR request, checked for status and type.
async function fetchCar (opts) {
  const encoded = opts.names.map(n => '/' + encodeURIComponent(n)).join('')
  const params = new URLSearchParams({ format: 'car' })
  if (opts.dagScope !== undefined) params.set('dag-scope', opts.dagScope)
  if (opts.entityBytes !== undefined) params.set('entity-bytes', opts.entityBytes.text)
  const url = `${opts.gateway.replace(/\/+$/, '')}/ipfs/${opts.root}${encoded}?${params}`
  let res
  try {
    res = await fetch(url, { headers: { Accept: ACCEPT }, signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) })
  } catch (err) {
    throw new CheckError(`GET ${url}: ${err.cause?.message ?? err.message}`)
  }
  const type = res.headers.get('content-type') ?? ''
  if (res.status !== 200) {
    const text = (await res.text()).slice(0, 200)
    throw new CheckError(`GET ${url}: status ${res.status}, expected 200: ${text}`)
  }
  if (!type.startsWith('application/vnd.ipld.car')) {
    throw new CheckError(`GET ${url}: Content-Type is '${type}', expected application/vnd.ipld.car`)
  }
  if (res.body === null) throw new CheckError(`GET ${url}: no body`)
  return { url, body: res.body, allowDups: /;\s*dups=y/.test(type) }
}

async function main () {
  const opts = parseArgs(process.argv.slice(2))
  let source, allowDups, what
  if (opts.car !== undefined) {
    source = createReadStream(opts.car, { highWaterMark: 1 << 20 })
    allowDups = false
    what = opts.car
  } else {
    const fetched = await fetchCar(opts)
    source = fetched.body
    allowDups = fetched.allowDups
    what = fetched.url
  }
  const { roots, blocks, counts, total } = await readVerifiedCar(source, opts.root, allowDups)

  // A blockstore over the verified blocks only; ipfs-unixfs-exporter 16
  // calls get() as an async generator of the block's bytes.
  const read = new Set()
  const blockstore = {
    async * get (cid) {
      if (cid.multihash.code === identity.code) {
        yield cid.multihash.digest
        return
      }
      const key = keyOf(cid)
      const bytes = blocks.get(key)
      if (bytes === undefined) {
        throw new CheckError(`the export needs block ${cid}, which is not in the CAR`)
      }
      read.add(key)
      yield bytes
    },
    async has (cid) {
      return cid.multihash.code === identity.code || blocks.has(keyOf(cid))
    }
  }

  const exportPath = [opts.root.toString(), ...opts.names].join('/')
  let entry
  try {
    entry = await exporter(exportPath, blockstore)
  } catch (err) {
    throw new CheckError(`cannot resolve ${exportPath} from the CAR's blocks: ${err.message}`)
  }
  if (!['file', 'raw', 'identity'].includes(entry.type)) {
    throw new CheckError(`${exportPath} is a ${entry.type}, not a file`)
  }
  const size = BigInt(entry.size)
  const { start, end } = rangeOf(opts.entityBytes, size)
  const wanted = end - start
  const chunks = []
  let got = 0n
  if (wanted > 0n) {
    try {
      for await (const chunk of entry.content({ offset: Number(start), length: Number(wanted) })) {
        chunks.push(chunk)
        got += BigInt(chunk.byteLength)
      }
    } catch (err) {
      throw new CheckError(`cannot export ${exportPath} [${start}, ${end}): ${err.message}`)
    }
  }
  if (got !== wanted) {
    throw new CheckError(`the export of ${exportPath} [${start}, ${end}) gave ${got} bytes, expected ${wanted}`)
  }
  // The header's roots are not trusted (the walk starts from the path's CID);
  // they must still name exactly one CID: the one the path resolves to
  // (boxo's LastSegment.RootCid()) or the path's root CID.
  const allowed = [entry.cid, opts.root]
  if (roots.length !== 1 || !allowed.some(c => c.toV1().equals(roots[0].toV1()))) {
    throw new CheckError(`the CAR's header roots are [${roots.join(', ')}], expected [${entry.cid}] ` +
      `(the path's terminal CID) or [${opts.root}]`)
  }
  const unused = [...blocks.keys()].filter(k => !read.has(k))
  if (unused.length > 0) {
    throw new CheckError(`${unused.length} of the CAR's ${blocks.size} blocks were not needed by the export, ` +
      `first ${unused[0]}`)
  }

  const out = opts.out !== undefined ? createWriteStream(opts.out) : process.stdout
  const writeFailed = new Promise((resolve, reject) => out.once('error', reject))
  writeFailed.catch(() => {}) // observed below, by the race
  try {
    for (const chunk of chunks) {
      if (!out.write(chunk)) await Promise.race([new Promise(resolve => out.once('drain', resolve)), writeFailed])
    }
    if (opts.out !== undefined) {
      out.end()
      await Promise.race([finished(out), writeFailed])
    }
  } catch (err) {
    throw new CheckError(`cannot write the exported bytes to ${opts.out ?? 'stdout'}: ${err.message}`)
  }
  process.stderr.write(`${NAME}: ${what}: ${total} blocks verified (sha2-256 ${counts.sha256}, ` +
    `identity ${counts.identity}, duplicates ${counts.duplicates}), root ${opts.root}, ` +
    `${entry.type} of ${size} bytes, exported [${start}, ${end}) = ${got} bytes\n`)
}

try {
  await main()
} catch (err) {
  const message = err instanceof CheckError ? err.message : (err.stack ?? String(err))
  process.stderr.write(`${NAME}: FAILED: ${message}\n`)
  process.exitCode = 1
}
