"""Sources: captures, mitmproxy flow files and HAR files, each read into the same records."""
