// IPFS upstream fetcher (issue 6 item 4): placeholder until its implementation lands.
