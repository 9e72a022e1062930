"""The mini program's side: a simulator of the WeChat runtime over Flask's test client, and user stories."""
