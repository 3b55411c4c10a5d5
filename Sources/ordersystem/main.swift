import OrderSystemCLI

await OrderSystemMain.run()
