"""Turning a review into something to read: sanitised HTML, PDF, Markdown, CSV and Jira JSON."""
