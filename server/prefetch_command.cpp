// srcgate prefetch (issue 6 item 3): placeholder until its implementation lands.
