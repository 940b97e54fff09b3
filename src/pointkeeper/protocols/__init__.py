"""Protocol adapters: parse a request, call one service, render the answer."""
