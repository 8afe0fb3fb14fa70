"""Turns HJ 212 frames (MQTT, JSON, TCP) into durable rows. It never judges data."""
