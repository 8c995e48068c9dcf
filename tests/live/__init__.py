"""Tests against services on real sockets and real neighbours: browsers, generated clients, servers, testers."""
