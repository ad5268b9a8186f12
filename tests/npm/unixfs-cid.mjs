#!/usr/bin/env node
// Independent oracle for srcgate's UnixFS importer: computes each file's root
// CID with the JavaScript reference implementation (ipfs-unixfs-importer, the
// importer Helia uses) and an IPIP-0499 profile.
//
// Usage: node unixfs-cid.mjs [--profile unixfs-v1-2025|unixfs-v0-2015] FILE...
// Prints one JSON object per file and line: {"file", "cid", "size"}, where size
// is the number of file bytes read. Files are streamed and blocks discarded, so
// memory stays bounded for files of any size. Exit status 1 if a file failed,
// 2 on a usage error.
import { createReadStream } from 'node:fs'
import { BlackHoleBlockstore } from 'blockstore-core/black-hole'
import { importer } from 'ipfs-unixfs-importer'

const PROFILES = ['unixfs-v1-2025', 'unixfs-v0-2015']

function usage (message) {
  process.stderr.write(`unixfs-cid: ${message}\n` +
    `usage: node unixfs-cid.mjs [--profile ${PROFILES.join('|')}] FILE...\n`)
  process.exit(2)
}

let profile = 'unixfs-v1-2025'
const files = []
const argv = process.argv.slice(2)
for (let i = 0; i < argv.length; i++) {
  const arg = argv[i]
  if (arg === '--profile') {
    if (i + 1 >= argv.length) usage('--profile needs a value')
    profile = argv[++i]
  } else if (arg.startsWith('--profile=')) {
    profile = arg.slice('--profile='.length)
  } else if (arg === '--') {
    files.push(...argv.slice(i + 1))
    break
  } else if (arg.startsWith('--')) {
    usage(`unknown option ${arg}`)
  } else {
    files.push(arg)
  }
}
if (!PROFILES.includes(profile)) usage(`unknown profile ${profile}; valid: ${PROFILES.join(', ')}`)
if (files.length === 0) usage('no files given')

const blockstore = new BlackHoleBlockstore()

// Counts the bytes that pass from the file into the importer.
async function * counted (stream, counter) {
  for await (const chunk of stream) {
    counter.bytes += chunk.length
    yield chunk
  }
}

async function cidOf (file) {
  const counter = { bytes: 0 }
  const content = counted(createReadStream(file, { highWaterMark: 1 << 20 }), counter)
  let root
  for await (const entry of importer([{ content }], blockstore, { profile })) {
    root = entry
  }
  if (root === undefined) throw new Error('importer returned no root')
  return { file, cid: root.cid.toString(), size: counter.bytes }
}

let failed = false
for (const file of files) {
  try {
    process.stdout.write(JSON.stringify(await cidOf(file)) + '\n')
  } catch (err) {
    process.stderr.write(`unixfs-cid: ${file}: ${err.message}\n`)
    failed = true
  }
}
process.exitCode = failed ? 1 : 0
