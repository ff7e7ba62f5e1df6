"""Container HEALTHCHECK: healthy only when /readyz answers 200 (model loaded and warmed up).

Standard library only (it runs every few seconds). Sends the API key when the service has one, since
PRECURSOR_API_KEY_ON_HEALTH=true makes /readyz require it.
"""

import os
import sys
import urllib.error
import urllib.request

request = urllib.request.Request(f"http://127.0.0.1:{os.environ.get('PORT', '8000')}/readyz")
key = os.environ.get("PRECURSOR_API_KEY", "").strip()
if key:
    request.add_header("X-API-Key", key)
try:
    with urllib.request.urlopen(request, timeout=4) as response:
        sys.exit(0 if response.status == 200 else 1)
except (urllib.error.URLError, OSError):
    sys.exit(1)
